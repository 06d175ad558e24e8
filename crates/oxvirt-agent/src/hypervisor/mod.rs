//! The only module that speaks libvirt (to be written).

pub mod xml;
