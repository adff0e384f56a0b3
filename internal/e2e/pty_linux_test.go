package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair (Linux): a terminal for make to
// run in, so that Ctrl-C is a ^C typed on it, as a person types it.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// makeInTerminal runs make in a terminal of its own and returns a function
// that types ^C and returns make's exit status.
func makeInTerminal(t *testing.T, env []string, args ...string) (ctrlC func() int, out *syncBuffer) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if testing.Short() {
		t.Skip("builds the binaries with make")
	}
	master, slave := openPTY(t)
	cmd := exec.Command("make", args...)
	cmd.Dir = "../.."
	cmd.Env = append(topLevelEnv(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out = &syncBuffer{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			out.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return func() int {
		if _, err := master.Write([]byte{3}); err != nil { // ^C
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						return 128 + int(ws.Signal())
					}
					return ee.ExitCode()
				}
				t.Fatal(err)
			}
			return 0
		case <-time.After(30 * time.Second):
			t.Fatalf("make did not stop on ^C\n%s", out)
		}
		return -1
	}, out
}

// TestMakeRunCtrlCInATerminal: ^C typed in the terminal of `make run`
// stops the server gracefully and make exits 0, saying nothing more.
func TestMakeRunCtrlCInATerminal(t *testing.T) {
	port := freePort(t)
	ctrlC, out := makeInTerminal(t, []string{"PORT=" + strconv.Itoa(port), "HOST=127.0.0.1", "METRICS_ADDR=off",
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "run.db")}, "run")
	waitFor(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/v1/healthz", out)
	if code := ctrlC(); code != 0 {
		t.Errorf("make run exited %d after ^C\n%s", code, out)
	}
	quiet(t, out, port)
}

// TestMakeDemoCtrlCInATerminal: the same for `make demo` and its two
// processes.
func TestMakeDemoCtrlCInATerminal(t *testing.T) {
	api, site := freePort(t), freePort(t)
	ctrlC, out := makeInTerminal(t, nil, "demo", "DEMO_API_PORT="+strconv.Itoa(api), "DEMO_SITE_PORT="+strconv.Itoa(site),
		"DEMO_DB="+filepath.Join(t.TempDir(), "demo.db"))
	waitFor(t, "http://127.0.0.1:"+strconv.Itoa(api)+"/v1/healthz", out)
	waitFor(t, "http://127.0.0.1:"+strconv.Itoa(site)+"/", out)
	if code := ctrlC(); code != 0 {
		t.Errorf("make demo exited %d after ^C\n%s", code, out)
	}
	quiet(t, out, api, site)
}
