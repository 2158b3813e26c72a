//! Planning: the ordered operations that turn an actual IPVS table into a desired spec.
