//! libvirt domain lifecycle events, delivered to async code.
//!
//! Why this file holds unsafe code: the `virt` crate runs libvirt's default event loop but has
//! no safe wrapper for `virConnectDomainEventRegisterAny`. This is the one small wrapper: it
//! registers a C callback for `VIR_DOMAIN_EVENT_ID_LIFECYCLE` whose opaque pointer owns a
//! channel sender; libvirt frees it through the `freecb` when the callback is deregistered or
//! the connection closes. The callback copies what it needs (UUID, name, event, detail) out of
//! the borrowed domain pointer and sends it; nothing crosses back into Rust with a lifetime.

use oxvirt_types::VmId;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::Once;
use tokio::sync::mpsc::UnboundedSender;
use virt::connect::Connect;
use virt::sys;

/// A lifecycle event as libvirt reported it (numbers from `virDomainEventType` and its
/// per-type detail enums).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLifecycleEvent {
    /// The domain UUID (= our VM id for our domains). `None` if libvirt gave no valid UUID.
    pub id: Option<VmId>,
    pub name: String,
    pub event: i32,
    pub detail: i32,
}

static EVENT_LOOP: Once = Once::new();

/// Registers libvirt's default event loop implementation and runs it on a dedicated thread.
/// Must happen before the first connection is opened (libvirt requirement); idempotent.
pub fn event_loop_start() {
    EVENT_LOOP.call_once(|| {
        if let Err(e) = virt::event::event_register_default_impl() {
            tracing::error!(error = %e, "cannot register libvirt's event loop; VM state changes will only be seen by polling");
            return;
        }
        let spawned = std::thread::Builder::new().name("libvirt-events".into()).spawn(|| {
            loop {
                if let Err(e) = virt::event::event_run_default_impl() {
                    tracing::error!(error = %e, "libvirt event loop iteration failed");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the libvirt event thread");
        }
    });
}

/// Subscribes `sender` to lifecycle events of every domain on `conn`. Returns libvirt's
/// callback id. The subscription ends when the connection closes (libvirt then drops the
/// sender through `free_sender`).
pub fn lifecycle_events_register(
    conn: &Connect,
    sender: UnboundedSender<RawLifecycleEvent>,
) -> Result<i32, virt::error::Error> {
    let opaque = Box::into_raw(Box::new(sender)).cast::<c_void>();
    #[allow(unsafe_code)]
    // SAFETY: `lifecycle_callback` has the C signature libvirt documents for
    // VIR_DOMAIN_EVENT_ID_LIFECYCLE (virConnectDomainEventCallback); libvirt's API takes it as
    // the generic callback type and calls it with the right arguments (the C macro
    // VIR_DOMAIN_EVENT_CALLBACK does the same cast). `opaque` is a leaked Box that only
    // `free_sender` reclaims, exactly once, when libvirt is done with it.
    let id = unsafe {
        let generic: sys::virConnectDomainEventGenericCallback = Some(std::mem::transmute::<
            unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int,
            unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void),
        >(lifecycle_callback));
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            generic,
            opaque,
            Some(free_sender),
        )
    };
    if id < 0 {
        // libvirt did not take ownership: reclaim the sender ourselves.
        #[allow(unsafe_code)]
        // SAFETY: registration failed, so libvirt never saw `opaque`; we still own it.
        unsafe {
            drop(Box::from_raw(opaque.cast::<UnboundedSender<RawLifecycleEvent>>()));
        }
        return Err(virt::error::Error::last_error());
    }
    Ok(id)
}

#[allow(unsafe_code)]
unsafe extern "C" fn lifecycle_callback(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: libvirt passes a valid domain pointer for the duration of the call and the
    // opaque pointer we registered, which stays valid until `free_sender` runs.
    unsafe {
        let sender = &*opaque.cast::<UnboundedSender<RawLifecycleEvent>>();
        let mut uuid_buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
        let id = if sys::virDomainGetUUIDString(dom, uuid_buf.as_mut_ptr()) == 0 {
            CStr::from_ptr(uuid_buf.as_ptr()).to_str().ok().and_then(|s| s.parse::<VmId>().ok())
        } else {
            None
        };
        let name_ptr = sys::virDomainGetName(dom);
        let name =
            if name_ptr.is_null() { String::new() } else { CStr::from_ptr(name_ptr).to_string_lossy().into_owned() };
        // A closed receiver means the agent is shutting down; nothing to do.
        let _ = sender.send(RawLifecycleEvent { id, name, event, detail });
    }
    0
}

#[allow(unsafe_code)]
unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    // SAFETY: called once by libvirt with the pointer from `Box::into_raw` above.
    unsafe { drop(Box::from_raw(opaque.cast::<UnboundedSender<RawLifecycleEvent>>())) }
}
