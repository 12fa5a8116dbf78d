//! Simulators of the devices and platforms netpulse talks to. They are a product feature
//! (`netpulse sim ...`): people test their automation against them, and every test and benchmark of
//! netpulse uses them instead of hardware.

pub mod dme;
pub mod hooks;
pub mod ise;
mod load;
pub mod sdwan;
pub mod webex;
