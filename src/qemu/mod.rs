//! QEMU: VmSpec to argv, accelerator detection and the VM runner.
