"""`floorgate demo`: the edge composed with simulated devices and operators, on embedded defaults."""
