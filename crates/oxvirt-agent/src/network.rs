//! Host networking over netlink (to be written: bridges for logical networks).
