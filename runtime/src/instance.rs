//! The name of one running process of a role (gateway replies are routed to it, projector
//! workers sign their partition claims with it, logs and database connections carry it), so
//! that every binary derives it the same way.

/// `configured` if given, else `<HOSTNAME>-<pid>` (a pod's name in Kubernetes), falling back
/// to `<role>-<pid>` where `HOSTNAME` is not set.
pub fn instance_id(configured: Option<&str>, role: &str) -> String {
    match configured {
        Some(id) => id.to_owned(),
        None => {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| role.to_owned());
            format!("{host}-{}", std::process::id())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_id_is_kept_and_a_default_names_the_process() {
        assert_eq!(instance_id(Some("gw-1"), "producer"), "gw-1");
        let default = instance_id(None, "producer");
        assert!(
            default.ends_with(&format!("-{}", std::process::id())),
            "{default}"
        );
    }
}
