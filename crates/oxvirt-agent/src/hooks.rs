//! VDSM-style hook scripts (to be written: see the host agent issue, item 8).
