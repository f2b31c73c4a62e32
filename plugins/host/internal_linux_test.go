package host

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeathSignal(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("true")
	setDeathSignal(cmd)
	require.NotNil(t, cmd.SysProcAttr)
	require.Equal(t, syscall.SIGKILL, cmd.SysProcAttr.Pdeathsig)
}
