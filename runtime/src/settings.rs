//! Settings that were renamed: a deployment that still sets an old name gets an error naming
//! the new one at start-up, instead of the old value being ignored without a word.

use anyhow::bail;

/// An environment variable that no longer exists, and the one that replaced it.
#[derive(Debug, Clone, Copy)]
pub struct Renamed {
    /// The old name.
    pub old: &'static str,
    /// The name that replaced it.
    pub new: &'static str,
}

/// The dedup window's old names on the two sides: both read `TRIBUTARY_RECENT_COMMANDS` now.
pub const RENAMED: &[Renamed] = &[
    Renamed {
        old: "PROCESSOR_RECENT_COMMANDS",
        new: "TRIBUTARY_RECENT_COMMANDS",
    },
    Renamed {
        old: "PROJECTOR_RECENT_COMMAND_IDS",
        new: "TRIBUTARY_RECENT_COMMANDS",
    },
];

/// An error if any variable of `vars` is one of [`RENAMED`]'s old names.
pub fn refuse_renamed(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<()> {
    for (name, _) in vars {
        if let Some(renamed) = RENAMED.iter().find(|r| r.old == name) {
            bail!(
                "{} was renamed to {}: set {} instead (the same value on the command side and the projector) and remove {}",
                renamed.old,
                renamed.new,
                renamed.new,
                renamed.old
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_name_is_refused_naming_the_new_one() {
        let vars = |name: &str| vec![(name.to_owned(), "8".to_owned())];
        let error = refuse_renamed(vars("PROJECTOR_RECENT_COMMAND_IDS")).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "PROJECTOR_RECENT_COMMAND_IDS was renamed to TRIBUTARY_RECENT_COMMANDS"
            ),
            "{error}"
        );
        assert!(refuse_renamed(vars("TRIBUTARY_RECENT_COMMANDS")).is_ok());
    }
}
