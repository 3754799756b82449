//! "Launch at login": an XDG autostart entry (`~/.config/autostart/pcmetrics.desktop`),
//! which GNOME, KDE, Xfce and most other Linux desktops honour. The app starts in the
//! tray (`--minimized`) when launched this way.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Autostart {
    entry: PathBuf,
    exec: PathBuf,
}

impl Autostart {
    /// The entry in `config_dir` (the user's `~/.config`) that starts `exec`.
    pub fn new(config_dir: &Path, exec: &Path) -> Self {
        Self {
            entry: config_dir.join("autostart").join("pcmetrics.desktop"),
            exec: exec.to_owned(),
        }
    }

    pub fn entry(&self) -> &Path {
        &self.entry
    }

    pub fn is_enabled(&self) -> bool {
        self.entry.is_file()
    }

    pub fn set_enabled(&self, on: bool) -> std::io::Result<()> {
        if !on {
            return match std::fs::remove_file(&self.entry) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.entry.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let exec = exec_arg(&self.exec.display().to_string());
        std::fs::write(
            &self.entry,
            format!(
                "[Desktop Entry]\nType=Application\nName=pcmetrics\nComment=Personal metrics: samples this PC and keeps its history\nExec={exec} --minimized\nIcon=pcmetrics\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
            ),
        )
    }
}

/// `arg` as one argument of an `Exec` key, per the Desktop Entry spec: quoted, with `"`,
/// `` ` ``, `$` and `\` backslash-escaped inside the quotes and `%` doubled (field codes);
/// then escaped once more as a string value (`\\`, `\n`, `\t`, `\r`), because the
/// key's value is unescaped before the quoting is read.
fn exec_arg(arg: &str) -> String {
    let mut quoted = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '%' => quoted.push_str("%%"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    let mut value = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        match c {
            '\\' => value.push_str("\\\\"),
            '\n' => value.push_str("\\n"),
            '\t' => value.push_str("\\t"),
            '\r' => value.push_str("\\r"),
            c => value.push(c),
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabling_writes_a_desktop_entry_and_disabling_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = Autostart::new(dir.path(), Path::new("/opt/pc metrics/pcmetrics-tray"));
        assert!(!a.is_enabled());
        a.set_enabled(true).unwrap();
        assert!(a.is_enabled());
        let text = std::fs::read_to_string(a.entry()).unwrap();
        assert!(text.starts_with("[Desktop Entry]\n"));
        assert!(text.contains("Exec=\"/opt/pc metrics/pcmetrics-tray\" --minimized\n"));
        a.set_enabled(false).unwrap();
        assert!(!a.is_enabled());
        a.set_enabled(false).unwrap();
    }

    #[test]
    fn exec_escapes_every_reserved_character() {
        // Inside the quotes: \" \` \$ \\ and %%; then every backslash doubled.
        assert_eq!(
            exec_arg(r#"/a "b" $HOME `c` d\e 100%"#),
            r#""/a \\"b\\" \\$HOME \\`c\\` d\\\\e 100%%""#
        );
        assert_eq!(exec_arg("/x\ny"), r#""/x\ny""#);
        assert_eq!(exec_arg("/opt/pc metrics/app"), r#""/opt/pc metrics/app""#);
    }
}
