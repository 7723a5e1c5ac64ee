"""The community-centre kiosk: device screens, member cards and PINs, place codes."""
