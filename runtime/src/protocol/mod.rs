//! What the runtime's processes say to each other, apart from user data: one file per conversation.
//! Everything here sits below the code that starts processes and runs tasks (launch, registry, pool),
//! which all read these formats from here; nothing here reaches up to them.

pub(crate) mod child;
pub(crate) mod pool;
