pub(crate) mod mailbox;
pub(crate) mod ring;
