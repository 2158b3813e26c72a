//! ipvsadm text: `ipvsadm -S` output and ipvsadm command scripts, read and written.
