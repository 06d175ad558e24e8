//! Rendering libvirt domain XML from a VM spec (to be written).
