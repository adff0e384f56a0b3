package e2e

import (
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageUID is the image's user (USER 65532:65532 in the Dockerfile).
const imageUID = 65532

// podmanStore runs podman on a storage of the test's own (vfs: no overlay
// or fuse needed), so the test neither sees nor leaves anything in the
// machine's images.
type podmanStore struct {
	bin   string
	flags []string
}

func (p podmanStore) command(args ...string) *exec.Cmd {
	return exec.Command(p.bin, append(append([]string{}, p.flags...), args...)...)
}

func (p podmanStore) run(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := p.command(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// needPodman finds podman; the test fails under CI=true without it.
func needPodman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no podman (Debian: apt-get install podman)")
		}
		t.Skip("no podman installed")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make installed")
	}
	return p
}

// TestImage builds the image as `make image` does (podman, no base image
// pulled), checks its configuration and files, then runs its entrypoint
// from a container's filesystem, chrooted, as the image's user: on the
// SQLite default in /data, and on PostgreSQL. Running the container itself
// needs cgroups this sandbox lacks; the chroot runs the same files as the
// same user with nothing from the host.
func TestImage(t *testing.T) {
	bin := needPodman(t)
	if os.Geteuid() != 0 {
		// chroot and setuid need root; rootless podman would need the
		// test to re-run itself under `podman unshare`.
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: TestImage needs root (chroot as the image's user); run .ci/run as root")
		}
		t.Skip("TestImage needs root (chroot as the image's user)")
	}
	store := t.TempDir()
	pm := podmanStore{bin: bin, flags: []string{
		"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--tmpdir", filepath.Join(store, "tmp"), "--storage-driver", "vfs", "--events-backend", "none",
	}}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	image := "localhost/marketing-test:" + hex.EncodeToString(b)

	// make image, with podman pointed at the test's storage.
	started := time.Now()
	mk := exec.Command("make", "-C", "../..", "image", "IMAGE="+image,
		"PODMAN="+bin+" "+strings.Join(pm.flags, " "))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image: %v", time.Since(started).Round(time.Second))
	t.Cleanup(func() { _ = pm.command("rmi", "-f", image).Run() })

	var cfg struct {
		User       string
		Entrypoint []string
		Cmd        []string
		WorkingDir string
	}
	if err := json.Unmarshal([]byte(pm.run(t, "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || strings.Join(cfg.Entrypoint, " ") != "/app/marketing" || strings.Join(cfg.Cmd, " ") != "serve" || cfg.WorkingDir != "/" {
		t.Fatalf("image config: %+v", cfg)
	}
	if layers := pm.run(t, "image", "inspect", "--format", "{{len .RootFS.Layers}}", image); layers != "2" {
		t.Fatalf("want the two COPY layers of a scratch image, got %s", layers)
	}

	ctr := pm.run(t, "create", image)
	t.Cleanup(func() { _ = pm.command("rm", "-f", ctr).Run() })
	root := pm.run(t, "mount", ctr)
	t.Cleanup(func() { _ = pm.command("unmount", ctr).Run() })

	checkImageFiles(t, root)

	t.Run("SQLiteDefault", func(t *testing.T) {
		p := startChrooted(t, root, "REPORT_TIMEZONE=America/Toronto")
		postAndStop(t, p)
		fi, err := os.Stat(filepath.Join(root, "data", "marketing.db"))
		if err != nil {
			t.Fatalf("no SQLite database in /data: %v", err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != imageUID {
			t.Fatalf("/data/marketing.db owned by %d", st.Uid)
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		dbURL := newDatabase(t)
		env := []string{"DATABASE_URL=" + dbURL}
		if out, err := chrooted(root, env, "migrate").CombinedOutput(); err != nil {
			t.Fatalf("migrate in the image: %v\n%s", err, out)
		}
		p := startChrooted(t, root, env...)
		postAndStop(t, p)
		if n := countEvents(t, dbURL); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
	})
}

// checkImageFiles: the binary is static, the CA bundle is there, /data is
// the user's and /tmp is writable by anyone, and nothing else is.
func checkImageFiles(t *testing.T, root string) {
	t.Helper()
	f, err := elf.Open(filepath.Join(root, "app", "marketing"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("/app/marketing is dynamically linked")
		}
	}
	f.Close()
	if fi, err := os.Stat(filepath.Join(root, "etc", "ssl", "certs", "ca-certificates.crt")); err != nil || fi.Size() < 10_000 {
		t.Fatalf("CA certificates: %v", err)
	}
	fi, err := os.Stat(filepath.Join(root, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != imageUID || st.Gid != imageUID || fi.Mode().Perm()&0o200 == 0 {
		t.Fatalf("/data: %v owned by %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Fatalf("/tmp: %v %v", fi.Mode(), err)
	}
	var all []string
	err = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			all = append(all, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(all, " ") != "/app/marketing /etc/ssl/certs/ca-certificates.crt" {
		t.Fatalf("files in the image: %v", all)
	}
}

// chrooted is the image's entrypoint run from root as the image's user,
// from /, with env and nothing else of this process's environment.
func chrooted(root string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("/app/marketing", args...)
	cmd.Path = "/app/marketing" // looked up inside the chroot, not here
	cmd.Dir = "/"
	cmd.Env = append([]string{"APP_ENV=development", "HOST=127.0.0.1", "METRICS_ADDR=off"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID, Groups: []uint32{}},
	}
	return cmd
}

// startChrooted runs `serve` from the image on a free port and waits for
// /v1/healthz to answer 200.
func startChrooted(t *testing.T, root string, env ...string) *proc {
	t.Helper()
	port := freePort(t)
	cmd := chrooted(root, append(env, "PORT="+strconv.Itoa(port)), "serve")
	p := &proc{cmd: cmd, URL: "http://127.0.0.1:" + strconv.Itoa(port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			t.Fatalf("serve in the image exited early: %v\n%s\n%s", err, p.stdout, p.stderr)
		default:
		}
		if r, err := http.Get(p.URL + "/v1/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("serve in the image did not become healthy\n%s\n%s", p.stdout, p.stderr)
	return nil
}

// postAndStop sends one event (202), then SIGTERM: the server drains and
// exits 0.
func postAndStop(t *testing.T, p *proc) {
	t.Helper()
	if code, _, err := post(p.URL, `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`); err != nil || code != 202 {
		t.Fatalf("event: %d %v\n%s", code, err, p.stderr)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("serve exited %d\n%s\n%s", code, p.stdout, p.stderr)
	}
}
