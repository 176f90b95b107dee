package opik_test

import "syscall"

// serverProcAttr makes the kernel send SIGTERM to a test server when the test binary dies, so a
// crashed run leaves no server behind.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
