package host

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel SIGKILL the plugin when the hub dies, even
// by SIGKILL, so no connector process outlives it. (Linux ties the signal to
// the thread that started the child; Go only retires threads of goroutines
// that exit while locked to them, and the plugin's own parent watch covers
// that case too.)
func setDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
