// vSphere tags in the simulator.
//
// govmomi 0.24.2's vAPI simulator (package vapi/simulator, imported by main.go for its
// RegisterEndpoint) serves the vSphere Automation REST API under /rest when the model's
// Service.RegisterEndpoints is set before NewServer(). createTags makes categories and tags
// through that REST API (the same calls an admin's script would make) and attaches them to
// VMs, a host and a datastore; the truth file records every VM's tags.
//
// installVAPIFaults puts a switch in front of the tagging endpoints so that one running
// simulator can also answer as a vCenter whose tagging service fails: a test POSTs a mode to
// /stagger/vapi-mode (see vapiModes). The SOAP API is never affected.
package main

import (
	"context"
	"io/ioutil"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type truthTag struct {
	Category string `json:"category"`
	Tag      string `json:"tag"`
}

// tagsFor is the deterministic tag plan of VM number i.
func tagsFor(i int) []truthTag {
	var out []truthTag
	switch i % 9 {
	case 2:
		out = append(out, truthTag{"BackupWindow", "payroll"})
	case 5:
		out = append(out, truthTag{"BackupWindow", "av-scan"})
	}
	if i%4 == 0 {
		out = append(out, truthTag{"Owner", "finance"})
	}
	if i%8 == 1 {
		out = append(out, truthTag{"Owner", "hr"})
	}
	if i%10 == 7 { // one tag name in two categories
		out = append(out, truthTag{"Owner", "ops"}, truthTag{"Team", "ops"})
	}
	if i%25 == 3 { // names are Unicode
		out = append(out, truthTag{"Größe", "groß ✓"})
	}
	return out
}

// createTags creates the categories and tags and attaches them: one REST call per tag to attach
// it to all of its VMs. The "BackupWindow:payroll" tag is also on a host and a datastore (the
// loader maps VM tags only, and says how many associations it left out), "Owner:unused" is on
// nothing.
func createTags(ctx context.Context, c *govmomi.Client, u *url.URL, plans []*truthVM, extra []types.ManagedObjectReference) {
	rc := rest.NewClient(c.Client)
	check(rc.Login(ctx, u.User), "rest login")
	defer func() { _ = rc.Logout(ctx) }()
	m := tags.NewManager(rc)

	cardinality := map[string]string{"BackupWindow": "SINGLE", "Owner": "MULTIPLE", "Team": "SINGLE", "Größe": "SINGLE"}
	refs := map[truthTag][]mo.Reference{{"Owner", "unused"}: nil}
	for _, v := range plans {
		for _, t := range v.Tags {
			refs[t] = append(refs[t], types.ManagedObjectReference{Type: "VirtualMachine", Value: v.Moref})
		}
	}
	for _, ref := range extra {
		k := truthTag{"BackupWindow", "payroll"}
		refs[k] = append(refs[k], ref)
	}
	var keys []truthTag
	for k := range refs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Category+"\x00"+keys[i].Tag < keys[j].Category+"\x00"+keys[j].Tag
	})
	categories := map[string]string{}
	for _, k := range keys {
		cid, ok := categories[k.Category]
		if !ok {
			var err error
			cid, err = m.CreateCategory(ctx, &tags.Category{
				Name:            k.Category,
				Description:     "stagger test category",
				Cardinality:     cardinality[k.Category],
				AssociableTypes: []string{"VirtualMachine", "HostSystem", "Datastore"},
			})
			check(err, "create category "+k.Category)
			categories[k.Category] = cid
		}
		tid, err := m.CreateTag(ctx, &tags.Tag{Name: k.Tag, CategoryID: cid, Description: "stagger test tag"})
		check(err, "create tag "+k.Tag)
		if len(refs[k]) > 0 {
			check(m.AttachTagToMultipleObjects(ctx, tid, refs[k]), "attach tag "+k.Tag)
		}
	}
}

// The failure modes a test can switch the tagging endpoints into.
var vapiModes = map[string]string{
	"on":              "the simulator's own vAPI endpoints",
	"absent":          "404 for every /rest/com/vmware/cis path (standalone ESXi has no vAPI endpoint)",
	"unauthenticated": "the session login is refused: 401 with a vAPI error",
	"forbidden":       "login works, every tagging call answers 403 (vapi.std.errors.unauthorized)",
	"html":            "200 with an HTML page for every call (a proxy's login page)",
	"broken-tag":      "the first tag read by id works, every later one fails with 500 (a partial read)",
	"slow":            "every tagging call waits until the client gives up (at most 20 s), then 503",
	"endless":         "the tag list is an endless JSON answer (stops at 64 MiB or when the client leaves)",
}

type vapiSwitch struct {
	mu       sync.Mutex
	mode     string
	tagReads int
}

func vapiError(w http.ResponseWriter, status int, kind, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"type":"com.vmware.vapi.std.errors.` + kind + `","value":{"messages":[{"id":"stagger.test","default_message":"` + message + `","args":[]}]}}`))
}

// installVAPIFaults registers, in front of the vAPI simulator's "/rest/" handler, a more
// specific pattern for the cis paths (session and tagging) that follows the current mode.
func installVAPIFaults(mux *http.ServeMux) {
	vapi, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/rest/com/vmware/cis/session"}})
	if pattern == "" {
		panic("vAPI simulator endpoint not registered")
	}
	sw := &vapiSwitch{mode: "on"}
	mux.HandleFunc("/stagger/vapi-mode", func(w http.ResponseWriter, r *http.Request) {
		body, _ := ioutil.ReadAll(http.MaxBytesReader(w, r.Body, 64))
		mode := strings.TrimSpace(string(body))
		if _, ok := vapiModes[mode]; !ok || r.Method != http.MethodPost {
			http.Error(w, "POST one of the modes", http.StatusBadRequest)
			return
		}
		sw.mu.Lock()
		sw.mode, sw.tagReads = mode, 0
		sw.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/rest/com/vmware/cis/", func(w http.ResponseWriter, r *http.Request) {
		session := strings.HasSuffix(r.URL.Path, "/cis/session")
		tagRead := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/tagging/tag/id:")
		sw.mu.Lock()
		mode := sw.mode
		if tagRead {
			sw.tagReads++
		}
		reads := sw.tagReads
		sw.mu.Unlock()
		switch {
		case mode == "absent":
			http.NotFound(w, r)
		case mode == "unauthenticated" && session:
			vapiError(w, http.StatusUnauthorized, "unauthenticated", "Authentication required.")
		case mode == "forbidden" && !session:
			vapiError(w, http.StatusForbidden, "unauthorized", "Unable to authorize user")
		case mode == "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>vSphere Client: please log in</body></html>"))
		case mode == "broken-tag" && tagRead && reads > 1:
			vapiError(w, http.StatusInternalServerError, "internal_server_error", "tagging service failed")
		case mode == "endless" && !session:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"value":["`))
			chunk := []byte(strings.Repeat("a", 64<<10))
			for sent := 0; sent < 64<<20; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client stopped reading
				}
			}
		case mode == "slow" && !session:
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			vapiError(w, http.StatusServiceUnavailable, "service_unavailable", "too slow")
		default:
			vapi.ServeHTTP(w, r)
		}
	})
}
