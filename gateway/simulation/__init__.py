"""`imaging-gateway simulate`: a department's day played against a running gateway."""
