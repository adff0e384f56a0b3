package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageUID is the image's user and group (USER 65532:65532 in the
// Dockerfile).
const imageUID = 65532

// podmanStore runs podman on a storage of the test's own (vfs: no overlay
// or fuse needed), so the test neither sees nor leaves anything in the
// machine's images. Rootless, podman keeps the image's files in a user
// namespace of ours, where the image's root is uid 0 and 65532 a
// subordinate uid; its mounts are visible only in there.
type podmanStore struct {
	bin      string
	flags    []string
	rootless bool
}

func (p podmanStore) command(args ...string) *exec.Cmd {
	return exec.Command(p.bin, append(append([]string{}, p.flags...), args...)...)
}

// unshared runs argv in podman's namespace when rootless, else here.
func (p podmanStore) unshared(argv ...string) *exec.Cmd {
	if !p.rootless {
		return exec.Command(argv[0], argv[1:]...)
	}
	return p.command(append([]string{"unshare"}, argv...)...)
}

func output(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// podman runs podman itself (in its namespace when rootless).
func (p podmanStore) podman(t *testing.T, args ...string) string {
	t.Helper()
	return output(t, p.unshared(append(append([]string{p.bin}, p.flags...), args...)...))
}

// hostID is the id that id in the image's namespace has on this machine
// (itself when root; /proc/self/{uid,gid}_map seen from podman's
// namespace when rootless).
func (p podmanStore) hostID(t *testing.T, mapFile string, id int) int {
	t.Helper()
	if !p.rootless {
		return id
	}
	sc := bufio.NewScanner(strings.NewReader(output(t, p.unshared("cat", "/proc/self/"+mapFile))))
	for sc.Scan() {
		var inside, outside, n int
		if _, err := fmt.Sscan(sc.Text(), &inside, &outside, &n); err == nil && id >= inside && id < inside+n {
			return outside + id - inside
		}
	}
	t.Fatalf("%d is not mapped in podman's user namespace (see /etc/subuid)", id)
	return -1
}

// needPodman finds podman and make; the test fails under CI=true without
// them.
func needPodman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err == nil {
		_, err = exec.LookPath("make")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v (Debian: apt-get install podman make)", err)
		}
		t.Skip(err)
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
	store := t.TempDir()
	pm := podmanStore{bin: bin, rootless: os.Geteuid() != 0, flags: []string{
		"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--tmpdir", filepath.Join(store, "tmp"), "--storage-driver", "vfs", "--events-backend", "none",
	}}
	if pm.rootless {
		// The image user's files belong to a subordinate uid: only
		// podman's namespace can remove them (before TempDir's cleanup).
		t.Cleanup(func() { _ = pm.unshared("rm", "-rf", filepath.Join(store, "root")).Run() })
	}
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
	if err := json.Unmarshal([]byte(output(t, pm.command("image", "inspect", "--format", "{{json .Config}}", image))), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || strings.Join(cfg.Entrypoint, " ") != "/app/marketing" || strings.Join(cfg.Cmd, " ") != "serve" || cfg.WorkingDir != "/" {
		t.Fatalf("image config: %+v", cfg)
	}
	if layers := output(t, pm.command("image", "inspect", "--format", "{{len .RootFS.Layers}}", image)); layers != "2" {
		t.Fatalf("want the two COPY layers of a scratch image, got %s", layers)
	}

	ctr := output(t, pm.command("create", image))
	t.Cleanup(func() { _ = pm.command("rm", "-f", ctr).Run() })
	root := pm.podman(t, "mount", ctr)
	t.Cleanup(func() { _ = pm.unshared(append(append([]string{bin}, pm.flags...), "unmount", ctr)...).Run() })

	uid, gid := pm.hostID(t, "uid_map", imageUID), pm.hostID(t, "gid_map", imageUID)
	checkImageFiles(t, root, uid, gid)

	t.Run("SQLiteDefault", func(t *testing.T) {
		p := startChrooted(t, pm, root, "REPORT_TIMEZONE=America/Toronto")
		postAndStop(t, p)
		fi, err := os.Stat(filepath.Join(root, "data", "marketing.db"))
		if err != nil {
			t.Fatalf("no SQLite database in /data: %v", err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Fatalf("/data/marketing.db owned by %d, want %d", st.Uid, uid)
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		dbURL := newDatabase(t)
		env := []string{"DATABASE_URL=" + dbURL}
		if out, err := chrooted(pm, root, "", env, "migrate").CombinedOutput(); err != nil {
			t.Fatalf("migrate in the image: %v\n%s", err, out)
		}
		p := startChrooted(t, pm, root, env...)
		postAndStop(t, p)
		if n := countEvents(t, dbURL); n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
	})
}

// checkImageFiles: the binary is static, the CA bundle is there, /data is
// the image user's (uid, gid here) and /tmp is writable by anyone, and
// nothing else is in the image.
func checkImageFiles(t *testing.T, root string, uid, gid int) {
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
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm()&0o200 == 0 {
		t.Fatalf("/data: %v owned by %d:%d, want %d:%d", fi.Mode(), st.Uid, st.Gid, uid, gid)
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
// from /, with env and nothing else of this process's environment. As
// root it is chrooted here; rootless, by chroot(1) in podman's namespace,
// which writes its pid to pidFile (when set) first: signals for the server
// go there, not to podman.
func chrooted(pm podmanStore, root, pidFile string, env []string, args ...string) *exec.Cmd {
	env = append([]string{"APP_ENV=development", "HOST=127.0.0.1", "METRICS_ADDR=off"}, env...)
	if pm.rootless {
		chroot, err := exec.LookPath("chroot")
		if err != nil {
			chroot = "/usr/sbin/chroot"
		}
		argv := []string{"env", "-i"}
		argv = append(argv, env...)
		argv = append(argv, "sh", "-c", `[ -z "$0" ] || echo $$ > "$0"; exec "$@"`, pidFile,
			chroot, fmt.Sprintf("--userspec=%d:%d", imageUID, imageUID), root, "/app/marketing")
		return pm.unshared(append(argv, args...)...)
	}
	cmd := exec.Command("/app/marketing", args...)
	cmd.Path = "/app/marketing" // inside the chroot, not here
	cmd.Dir = "/"
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID, Groups: []uint32{}},
	}
	return cmd
}

// imageProc is `serve` running from the image.
type imageProc struct {
	*proc
	pidFile string // rootless: the server's pid, written by chrooted
}

// terminate sends SIGTERM to the server itself.
func (p *imageProc) terminate(t *testing.T) {
	t.Helper()
	if p.pidFile == "" {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		return
	}
	b, err := os.ReadFile(p.pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("server pid: %q %v", b, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// startChrooted runs `serve` from the image on a free port and waits for
// /v1/healthz to answer 200.
func startChrooted(t *testing.T, pm podmanStore, root string, env ...string) *imageProc {
	t.Helper()
	port := freePort(t)
	p := &imageProc{}
	if pm.rootless {
		p.pidFile = filepath.Join(t.TempDir(), "serve.pid")
	}
	cmd := chrooted(pm, root, p.pidFile, append(env, "PORT="+strconv.Itoa(port)), "serve")
	p.proc = &proc{cmd: cmd, URL: "http://127.0.0.1:" + strconv.Itoa(port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			p.terminate(t)
			select {
			case <-p.done:
			case <-time.After(25 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
	})
	p.waitHealthy(t, "serve in the image")
	return p
}

// postAndStop sends one event (202), then SIGTERM: the server drains and
// exits 0.
func postAndStop(t *testing.T, p *imageProc) {
	t.Helper()
	if code, _, err := post(p.URL, `{"anonId":"visitor-0001","eventType":"page_view","path":"/"}`); err != nil || code != 202 {
		t.Fatalf("event: %d %v\n%s", code, err, p.stderr)
	}
	p.terminate(t)
	if code := p.wait(t, 25*time.Second); code != 0 {
		t.Fatalf("serve exited %d\n%s\n%s", code, p.stdout, p.stderr)
	}
}
