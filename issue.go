package marketing

import (
	"strconv"
	"strings"
)

// Issue is one validation problem: where in the input, and what is wrong.
type Issue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ValidationError carries the issues of a rejected input. Its code is EINVALID.
type ValidationError struct {
	Issues []Issue
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("marketing: invalid: ")
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(is.Path + ": " + is.Message)
	}
	return b.String()
}

// Issues collects validation problems under a path prefix.
type Issues struct {
	prefix string
	list   *[]Issue
}

// NewIssues starts an empty collection.
func NewIssues() Issues { return Issues{list: new([]Issue)} }

// At returns a view of the same collection whose paths start with prefix.
func (is Issues) At(prefix string) Issues {
	return Issues{prefix: join(is.prefix, prefix), list: is.list}
}

// AtIndex is At for an array element.
func (is Issues) AtIndex(i int) Issues { return is.At(strconv.Itoa(i)) }

// Add records a problem at path (relative to the prefix).
func (is Issues) Add(path, message string) {
	*is.list = append(*is.list, Issue{Path: join(is.prefix, path), Message: message})
}

// List returns what was collected.
func (is Issues) List() []Issue { return *is.list }

// Err returns a *ValidationError, or nil when nothing was collected.
func (is Issues) Err() error {
	if len(*is.list) == 0 {
		return nil
	}
	return &ValidationError{Issues: *is.list}
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}
