//go:build !linux

package opik_test

import "syscall"

func serverProcAttr() *syscall.SysProcAttr { return nil }
