//! Tiny static x86-64 Linux programs the validator plants in derived snaps: one that exits with
//! a code (a failing health check) and one that pauses forever (a hung init or health check).
//! Each is one ELF header, one program header and a few instructions: it needs no interpreter
//! or library, so any base or initramfs can run it.

/// A program that exits with `code`: `mov edi, code; mov eax, 60 (exit); syscall`.
pub fn exit_with(code: u8) -> Vec<u8> {
    program(&[
        0xbf, code, 0, 0, 0, // mov edi, code
        0xb8, 60, 0, 0, 0, // mov eax, 60
        0x0f, 0x05, // syscall
    ])
}

/// A program that never returns: `pause` in a loop (as PID 1 no signal ends it; as a child
/// only SIGKILL or a handled-by-default signal does).
pub fn pause_forever() -> Vec<u8> {
    program(&[
        0xb8, 34, 0, 0, 0, // mov eax, 34 (pause)
        0x0f, 0x05, // syscall
        0xeb, 0xf7, // jmp back to the mov
    ])
}

/// A complete program: the ELF header, one read+execute PT_LOAD program header and `text`,
/// loaded at 0x400000 with the entry point at `text`.
fn program(text: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let total = HEADERS + text.len() as u64;
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // program headers
    e.extend_from_slice(&0u64.to_le_bytes()); // no sections
    e.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&half.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&BASE.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&0x1000u64.to_le_bytes());
    e.extend_from_slice(text);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Cmd;

    #[test]
    fn exit_program_runs_and_exits_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        for code in [0u8, 1, 7] {
            let path = dir.path().join(format!("exit{code}"));
            std::fs::write(&path, exit_with(code)).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let result = Cmd::new(path.to_str().unwrap()).run();
            assert_eq!(result.is_ok(), code == 0, "exit code {code}");
            if code != 0 {
                let err = format!("{:#}", result.unwrap_err());
                assert!(err.contains(&format!("exit status: {code}")), "{err}");
            }
        }
    }

    #[test]
    fn pause_program_runs_until_killed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, pause_forever()).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut child = Cmd::new(path.to_str().unwrap())
            .spawn(std::process::Stdio::null(), std::process::Stdio::null())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "it returned");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}
