//! Reading a `--timings` report: after its title, one line a phase,
//! milliseconds then the phase; a phase's parts indented under it.

/// The lines of a report, in order, and its text for failure messages.
#[derive(Debug)]
pub struct Timings {
    pub text: String,
    /// Milliseconds and label, the label without its indentation.
    pub lines: Vec<(f64, String)>,
}

impl Timings {
    /// Parses the report in `stderr`; every line after the title must be
    /// a number of milliseconds, not negative, and a label.
    pub fn parse(stderr: &[u8]) -> Timings {
        let text = String::from_utf8_lossy(stderr).into_owned();
        assert!(text.starts_with("cradle: timings of "), "{text}");
        let lines = text
            .lines()
            .skip(1)
            .map(|line| {
                let (ms, label) = line
                    .trim_start()
                    .split_once("  ")
                    .unwrap_or_else(|| panic!("not a timing: {line:?} in {text}"));
                let ms: f64 = ms.parse().unwrap_or_else(|_| panic!("{line:?} in {text}"));
                assert!(ms >= 0.0, "{line:?}");
                (ms, label.trim_start().to_owned())
            })
            .collect();
        Timings { text, lines }
    }

    /// Where `label` is among the lines.
    pub fn position(&self, label: &str) -> usize {
        self.lines
            .iter()
            .position(|(_, name)| name == label)
            .unwrap_or_else(|| panic!("no {label:?} in {}", self.text))
    }

    /// The milliseconds of `label`.
    pub fn ms(&self, label: &str) -> f64 {
        self.lines[self.position(label)].0
    }

    /// Requires `labels` in this order (others may come between).
    pub fn assert_in_order(&self, labels: &[&str]) {
        let positions: Vec<usize> = labels.iter().map(|label| self.position(label)).collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{}",
            self.text
        );
    }

    /// Requires the child's `steps` within the wait for `ready`, and the
    /// sum of its steps no longer than the launch's phases from the
    /// config's send to that wait's end: the child sets itself up from the
    /// moment it has its config, while the parent half-closes, attaches
    /// the cgroup (a run) and waits.
    pub fn assert_child_steps_within_the_wait(&self, steps: &[&str]) {
        let (wait, end) = (
            self.position("launch: await ready"),
            self.position("launch: await exec"),
        );
        for step in steps {
            let at = self.position(step);
            assert!(at > wait && at < end, "{step} outside the wait: {}", self.text);
        }
        let together = self.ms("child: its set-up steps together");
        let since_the_config: f64 = self.lines[self.position("launch: send config")..end]
            .iter()
            .filter(|(_, name)| name.starts_with("launch: "))
            .map(|(ms, _)| ms)
            .sum();
        assert!(together > 0.0 && together <= since_the_config, "{}", self.text);
    }
}
