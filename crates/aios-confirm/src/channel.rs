//! The private channel: stdin, which must be the agent's socketpair.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use aios_common::confirm::{ConfirmMessage, MAX_FRAME, decode, encode};
use aios_common::types::{ConfirmRequest, ConfirmResponse};
use nix::sys::stat::{SFlag, fstat};

/// The agent writes the request right after starting us.
const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// The socket on stdin.
pub struct Channel {
    sock: std::os::unix::net::UnixStream,
}

impl Channel {
    /// Takes stdin, refusing anything that is not a socket (a person running the
    /// binary by hand, or a pipe from some other program).
    pub fn from_stdin() -> Result<Self, String> {
        let stdin = std::io::stdin();
        let fd: BorrowedFd<'_> = stdin.as_fd();
        let st = fstat(fd).map_err(|e| format!("cannot inspect stdin: {e}"))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
            return Err("stdin is not the agent's channel; aios-confirm is started by aios-agent, not by hand".into());
        }
        let owned = fd.try_clone_to_owned().map_err(|e| format!("stdin: {e}"))?;
        let sock = std::os::unix::net::UnixStream::from(owned);
        Ok(Self { sock })
    }

    /// The socket, to notice the agent hanging up (it withdrew the question).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads the one request.
    pub fn read_request(&mut self) -> Result<ConfirmRequest, String> {
        self.sock
            .set_read_timeout(Some(REQUEST_WAIT))
            .map_err(|e| e.to_string())?;
        let mut len = [0u8; 4];
        self.sock
            .read_exact(&mut len)
            .map_err(|e| format!("no request from the agent: {e}"))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(format!("request of {len} bytes is too large"));
        }
        let mut body = vec![0u8; len];
        self.sock
            .read_exact(&mut body)
            .map_err(|e| format!("truncated request: {e}"))?;
        match decode(&body) {
            Ok(ConfirmMessage::ConfirmRequest(r)) => Ok(r),
            Ok(ConfirmMessage::ConfirmResponse(_)) => {
                Err("expected confirm_request, got confirm_response".into())
            }
            Err(e) => Err(format!("unreadable request: {e}")),
        }
    }

    /// Writes the answer.
    pub fn write_response(&mut self, resp: &ConfirmResponse) -> Result<(), String> {
        let frame =
            encode(&ConfirmMessage::ConfirmResponse(resp.clone())).map_err(|e| e.to_string())?;
        self.sock
            .write_all(&frame)
            .map_err(|e| format!("cannot deliver the answer to the agent: {e}"))
    }
}
