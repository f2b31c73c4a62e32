package host

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

var errNoSealedCopy = errors.New("sealed copies are not available")

// sealedCopy copies src into a sealed memfd and returns /proc/self/fd/N of
// a read-only descriptor of it (no descriptor open for writing may exist
// when it is executed). errNoSealedCopy means the kernel cannot do it and
// the caller should fall back to a private copy.
func sealedCopy(src *os.File, path string, want []byte) (string, func(), error) {
	const flags = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("switchboard-connector", flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.3 there is no MFD_EXEC, and memfds are executable.
		fd, err = unix.MemfdCreate("switchboard-connector", flags)
	}
	if err != nil {
		// EACCES: vm.memfd_noexec forbids executable memfds; ENOSYS: too
		// old a kernel.
		return "", nil, errNoSealedCopy
	}
	mem := os.NewFile(uintptr(fd), "memfd:switchboard-connector")
	defer mem.Close()
	if err := copyHashed(mem, src, path, want); err != nil {
		return "", nil, err
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS,
		unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return "", nil, fmt.Errorf("sealing the copy of %s: %w", path, err)
	}
	ro, err := os.Open("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", nil, errNoSealedCopy // no /proc
	}
	return "/proc/self/fd/" + strconv.Itoa(int(ro.Fd())), func() { ro.Close() }, nil
}
