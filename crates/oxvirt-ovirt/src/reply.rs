//! Faults and action replies: the two documents that are not entities.
//!
//! A fault is `<fault><reason>…</reason><detail>…</detail></fault>`; the SDK builds its
//! exception message from exactly these two fields plus the HTTP status
//! (`Fault reason is "…". Fault detail is "…". HTTP response code is 404.`) and picks the
//! exception class from the status alone. An action reply is
//! `<action><status>complete</status>…</action>`; a failed action may instead carry its
//! fault inside (`<action><status>failed</status><fault>…</fault></action>`), which the SDK
//! also raises. See the parent module's docs for the statuses each verb must use.

use super::error::ReprError;
use super::format::Format;
use super::tree::Element;

/// What oVirt puts in `<reason>` for a rejected operation.
pub const REASON_OPERATION_FAILED: &str = "Operation Failed";

/// The states oVirt reports in `<action><status>`.
pub const ACTION_COMPLETE: &str = "complete";
pub const ACTION_PENDING: &str = "pending";
pub const ACTION_IN_PROGRESS: &str = "in_progress";
pub const ACTION_FAILED: &str = "failed";

/// `<fault><reason>…</reason><detail>…</detail></fault>`.
pub fn fault(reason: &str, detail: &str) -> Element {
    Element::new("fault").text_child("reason", reason).text_child("detail", detail)
}

/// The fault as XML, what the SDKs read.
pub fn fault_xml(reason: &str, detail: &str) -> String {
    Format::Xml.render(&fault(reason, detail))
}

/// The fault in oVirt's JSON shape, `{"reason": …, "detail": …}`.
pub fn fault_json(reason: &str, detail: &str) -> serde_json::Value {
    super::json::to_json(&fault(reason, detail))
}

/// `<action><status>{status}</status>{extra}</action>`: the reply to `POST …/{id}/{action}`,
/// which the SDK requires (an empty body or any other document is an error for it). `extra`
/// is what the action produces, as a child (`<job>`, `<vm>`, `<disk>`…).
pub fn action_reply(status: &str, extra: Option<Element>) -> Element {
    Element::new("action").text_child("status", status).child_opt(extra)
}

/// A failed action: `<action><status>failed</status><fault>…</fault></action>`. The SDK
/// raises it as an error whatever the HTTP status, but send the error's status anyway.
pub fn action_failed(reason: &str, detail: &str) -> Element {
    action_reply(ACTION_FAILED, Some(fault(reason, detail)))
}

impl ReprError {
    /// This error as the fault a client gets (with status `self.kind().http_status()`).
    pub fn to_fault(&self) -> Element {
        fault(REASON_OPERATION_FAILED, &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_xml;

    #[test]
    fn fault_has_reason_and_detail() {
        let xml = fault_xml("Operation Failed", "[Cannot add VM. The name <web> is in use.]");
        let parsed = parse_xml(&xml).expect("parses");
        assert_eq!(parsed.name(), "fault");
        assert_eq!(parsed.text("reason").as_deref(), Some("Operation Failed"));
        assert_eq!(parsed.text("detail").as_deref(), Some("[Cannot add VM. The name <web> is in use.]"));
        assert_eq!(
            fault_json("Operation Failed", "gone"),
            serde_json::json!({"reason": "Operation Failed", "detail": "gone"})
        );
    }

    #[test]
    fn action_replies() {
        let ok = Format::Xml.render(&action_reply(ACTION_COMPLETE, None));
        assert!(ok.contains("<action>\n  <status>complete</status>\n</action>"), "{ok}");
        let with_job = action_reply(ACTION_PENDING, Some(Element::new("job").id("j1")));
        assert_eq!(with_job.child_named("job").and_then(|j| j.attr_value("id")), Some("j1"));
        let failed = action_failed("Operation Failed", "host is down");
        assert_eq!(failed.text("status").as_deref(), Some("failed"));
        assert_eq!(failed.at("fault").and_then(|f| f.text("detail")).as_deref(), Some("host is down"));
    }

    #[test]
    fn repr_errors_become_400_faults() {
        let err = ReprError::Missing { element: "name of vm".into() };
        assert_eq!(err.kind().http_status(), 400);
        assert_eq!(err.to_fault().text("detail").as_deref(), Some("name of vm is missing: it is required"));
    }
}
