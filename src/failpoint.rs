//! Named failure points that tests arm to make the exporter fail where no real
//! input can (a poller or a reload that panics), proving that the failure is
//! contained. Unarmed, a check is one uncontended lock.

use std::collections::HashSet;
use std::sync::Mutex;

static ARMED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Arms the failure point `name` for its next hit. Names in use: `poll:TARGET`
/// (the next poll of that target panics) and `reload` (the next configuration
/// reload panics).
#[doc(hidden)]
pub fn arm(name: &str) {
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    armed
        .get_or_insert_with(HashSet::new)
        .insert(name.to_owned());
}

/// Whether `name` was armed; disarms it.
pub(crate) fn hit(name: &str) -> bool {
    let mut armed = ARMED.lock().unwrap_or_else(|e| e.into_inner());
    armed.as_mut().is_some_and(|set| set.remove(name))
}
