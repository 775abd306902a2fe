//! An init binary that never reads its config: a child that stalls before
//! the handshake even starts. The launch kills it.

use std::time::Duration;

fn main() {
    std::thread::sleep(Duration::from_secs(3600));
}
