package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsLinksStayInTheRepository: a clone has every file the README and
// docs/ link to; nothing points outside the repository.
func TestDocsLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, d := range docs {
		files = append(files, strings.TrimPrefix(d, root+string(filepath.Separator)))
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		text := readRepoFile(t, f)
		if strings.Contains(text, "shared/SPEC") {
			t.Errorf("%s refers to shared/SPEC, which a clone does not have", f)
		}
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Clean(filepath.Join(root, filepath.Dir(f), target))
			if !strings.HasPrefix(abs, root+string(filepath.Separator)) {
				t.Errorf("%s links outside the repository: %s", f, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to a missing file: %s", f, m[1])
			}
		}
	}
}

func TestReadme(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	two := readme[strings.Index(readme, "## Two commands"):]
	two = two[:strings.Index(two[3:], "\n## ")+3]
	for _, want := range []string{"make run", "make test"} {
		if !strings.Contains(two, want) {
			t.Errorf("the Two commands section lacks %q", want)
		}
	}
	// The lead-capture fields, JSON and form-post names.
	for _, f := range []string{"`email`", "`name`", "`anonId`", "`formName`", "`path`", "`referrer`", "`sourceChannel`", "`consentStatus`",
		"`consent.text`", "`consent.purpose`", "`consent.version`", "`redirect`", "`honeypot`", "`payload`", "utm.source", "`locale`",
		"`utm_source`", "`consent_text`"} {
		if !strings.Contains(readme, f) {
			t.Errorf("README does not document the lead field %s", f)
		}
	}
	// Internals live in docs/ingest.md, not in the README.
	for _, internal := range []string{"pipeline mode", "epoch", "advisory lock", "ingest lock"} {
		if strings.Contains(readme, internal) {
			t.Errorf("README describes an internal: %q", internal)
		}
	}
	for _, want := range []string{"http://localhost:8080", "http://127.0.0.1:8080", "make clean-data", "`METRICS_ADDR` | `:9091` in production, off elsewhere"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if regexp.MustCompile(`rollups run[^\n]*--property-id`).MatchString(readme) {
		t.Error("README offers rollups run --property-id, which does not exist")
	}
}

func TestDeployRunbook(t *testing.T) {
	doc := readRepoFile(t, "docs/deploy.md")
	if !strings.Contains(doc, "export APP=") {
		t.Error("the runbook does not set the app name in one variable")
	}
	inBlock := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		l := strings.TrimSpace(line)
		if inBlock && strings.HasPrefix(l, "fly ") && !strings.HasPrefix(l, "fly auth") && !strings.Contains(l, `"$APP"`) {
			t.Errorf("a fly command without -a \"$APP\": %s", l)
		}
	}
	for _, want := range []string{"fly releases -a \"$APP\" --image", "do not rotate it unless it leaked", "suppression list matches no one",
		"a burst of 250", "workflow_run"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploy.md lacks %q", want)
		}
	}
	if strings.Contains(doc, "altcontext-marketing.fly.dev") || strings.Contains(doc, "200 events") {
		t.Error("docs/deploy.md still names the original app's host or 200 events")
	}
	ci := readRepoFile(t, ".github/workflows/ci.yml")
	if !regexp.MustCompile(`(?m)^name: ci$`).MatchString(ci) {
		t.Fatal("ci.yml is not named ci")
	}
	wf := readRepoFile(t, ".github/workflows/deploy.yml")
	for _, want := range []string{"workflow_run:", "workflows: [ci]", "types: [completed]", "github.event.workflow_run.conclusion == 'success'",
		"ref: ${{ github.event.workflow_run.head_sha }}"} {
		if !strings.Contains(wf, want) {
			t.Errorf("deploy.yml lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^  push:`).MatchString(wf) {
		t.Error("deploy.yml still deploys on push, before ci passed")
	}
}
