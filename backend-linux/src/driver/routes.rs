//! Which descriptor a `mio` token stands for.
//!
//! Tokens are never reused, so an event that arrives for a descriptor
//! deregistered earlier in the same batch finds no route and is dropped,
//! instead of reaching whatever was registered after it.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use cradle_core::Pid;

use super::{LaunchId, WatchId};
use crate::error::Error;

/// What a readiness event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// A launch's socket.
    Socket(LaunchId),
    /// The pidfd of a launch's process.
    Pidfd(LaunchId, Pid),
    /// The pidfd of a watched process.
    Watch(WatchId),
}

/// The routes of the registered descriptors.
#[derive(Debug, Default)]
pub(super) struct Routes {
    routes: HashMap<Token, Route>,
    next: usize,
}

impl Routes {
    /// Registers `fd` for `interest`, under a new token routed to `route`.
    pub(super) fn register(
        &mut self,
        registry: &Registry,
        fd: BorrowedFd<'_>,
        interest: Interest,
        route: Route,
    ) -> Result<Token, Error> {
        let token = Token(self.next);
        self.next += 1;
        registry
            .register(&mut SourceFd(&fd.as_raw_fd()), token, interest)
            .map_err(|error| kernel_error("epoll_ctl", error))?;
        self.routes.insert(token, route);
        Ok(token)
    }

    /// Changes what `fd`, registered under `token`, is watched for.
    pub(super) fn reregister(
        registry: &Registry,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> Result<(), Error> {
        registry
            .reregister(&mut SourceFd(&fd.as_raw_fd()), token, interest)
            .map_err(|error| kernel_error("epoll_ctl", error))
    }

    /// Stops watching `fd` (still open: the caller closes it after). With
    /// `None`, the descriptor has been closed already, which removed it from
    /// the epoll set; only the route goes.
    pub(super) fn deregister(&mut self, registry: &Registry, fd: Option<BorrowedFd<'_>>, token: Token) {
        if let Some(fd) = fd {
            // Fails only for a descriptor that is not registered: nothing
            // is left to undo then.
            let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        self.routes.remove(&token);
    }

    /// Where `token`'s event goes, if its descriptor is still watched.
    pub(super) fn route(&self, token: Token) -> Option<Route> {
        self.routes.get(&token).copied()
    }
}

/// A failed `epoll` call as the crate's error: mio's errors here all come
/// from the kernel.
pub(super) fn kernel_error(call: &'static str, error: io::Error) -> Error {
    Error::Syscall { call, source: error }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use mio::Poll;

    use super::*;

    #[test]
    fn a_token_is_never_reused() {
        let poll = Poll::new().expect("epoll");
        let (read, _write) = nix::unistd::pipe().expect("pipe");
        let mut routes = Routes::default();
        let id = WatchId(1);
        let first = routes
            .register(
                poll.registry(),
                read.as_fd(),
                Interest::READABLE,
                Route::Watch(id),
            )
            .expect("register");
        routes.deregister(poll.registry(), Some(read.as_fd()), first);
        assert_eq!(routes.route(first), None, "a late event for it is dropped");
        let second = routes
            .register(
                poll.registry(),
                read.as_fd(),
                Interest::READABLE,
                Route::Watch(id),
            )
            .expect("register again");
        assert_ne!(first, second);
        assert_eq!(routes.route(second), Some(Route::Watch(id)));
    }
}
