//! The agent's identity, enrollment and the mTLS transport (to be written).
