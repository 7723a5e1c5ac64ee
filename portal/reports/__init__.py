"""Reports and exports for coordinators and admins; the liability view."""
