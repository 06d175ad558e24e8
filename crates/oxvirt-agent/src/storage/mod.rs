//! File storage domains and volumes (to be written).
