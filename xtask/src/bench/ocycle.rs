//! The `ocycle` suite (under construction).

use super::Suite;
use crate::TaskResult;

pub fn run(suite: &mut Suite) -> TaskResult {
    suite.markdown("Not measured yet.");
    Ok(())
}
