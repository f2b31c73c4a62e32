//go:build !linux

package bench

import (
	"errors"
	"os"
	"os/exec"
)

func configureProcess(*exec.Cmd) {}

func terminate(p *os.Process) error {
	if err := p.Signal(os.Interrupt); err != nil {
		return p.Kill()
	}
	return nil
}

// processTreeUsage needs Linux's /proc; elsewhere CPU and RSS are unknown.
func processTreeUsage(int) (Usage, error) {
	return Usage{}, errors.New("measuring the hub's CPU and memory needs Linux /proc")
}

func selfCPU() (float64, bool) { return 0, false }
