// Command stagger-vcsim starts govmomi's vCenter simulator (simulator.VPX) on a given address
// and builds a realistic backup-planning estate in it through the vSphere API: two
// datacenters, clusters of hosts plus a standalone host, VMFS datastores with naa extents,
// multi-disk VMs spread over datastores, snapshots, templates, mixed VMware Tools states,
// custom attributes, vSphere tags (through the vAPI REST endpoints, see tags.go) and VMs that
// share a display name. It then writes a JSON "truth" file
// describing what it created, prints "READY <url>" and serves until SIGTERM/SIGINT.
//
// Built by the stagger test-suite (tests/vcsim/harness.py) in GOPATH mode against Debian's
// golang-github-vmware-govmomi-dev (govmomi 0.24.2). Everything the Python side reads goes
// through the PropertyCollector, so the 0.24.2 Fetch/MissingSet bug does not matter here.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator" // registers the /rest endpoints (tags)
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const gib = int64(1) << 30

type truthDisk struct {
	Datastore string `json:"datastore"`
	SizeBytes int64  `json:"size_bytes"`
	File      string `json:"file"`
	KBOnly    bool   `json:"kb_only"`
}

type truthSnapshot struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	SizeBytes int64     `json:"size_bytes"`
}

type truthVM struct {
	Name                string            `json:"name"`
	Moref               string            `json:"moref"`
	InstanceUUID        string            `json:"instance_uuid"`
	Datacenter          string            `json:"datacenter"`
	Folder              string            `json:"folder"`
	Host                string            `json:"host"`
	Cluster             string            `json:"cluster"`
	Template            bool              `json:"template"`
	PowerState          string            `json:"power_state"`
	ToolsRunning        string            `json:"tools_running"`
	ToolsVersion        string            `json:"tools_version"`
	ConsolidationNeeded bool              `json:"consolidation_needed"`
	CommittedBytes      int64             `json:"committed_bytes"`
	Attributes          map[string]string `json:"attributes"`
	Disks               []truthDisk       `json:"disks"`
	Snapshots           []truthSnapshot   `json:"snapshots"`
	Tags                []truthTag        `json:"vsphere_tags"`
}

type truthDatastore struct {
	Name          string   `json:"name"`
	Datacenter    string   `json:"datacenter"`
	CapacityBytes int64    `json:"capacity_bytes"`
	Extents       []string `json:"extents"`
}

type truthHost struct {
	Name       string `json:"name"`
	Cluster    string `json:"cluster"`
	Datacenter string `json:"datacenter"`
}

type truth struct {
	URL        string           `json:"url"`
	Hosts      []truthHost      `json:"hosts"`
	Datastores []truthDatastore `json:"datastores"`
	VMs        []truthVM        `json:"vms"`
	VAPI       bool             `json:"vapi"`
}

type hostInfo struct {
	obj     *object.HostSystem
	name    string
	cluster string
	pool    *object.ResourcePool
}

type dcInfo struct {
	obj     *object.Datacenter
	name    string
	folders *object.DatacenterFolders
	sub     map[string]*object.Folder
	hosts   []hostInfo
	ds      []string
	dsRefs  []types.ManagedObjectReference
}

func check(err error, what string) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}

func selfSigned(certOut string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err, "key")
	tmpl := x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "stagger-vcsim", Organization: []string{"stagger tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	check(err, "certificate")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	check(err, "marshal key")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if certOut != "" {
		check(ioutil.WriteFile(certOut, certPEM, 0o644), "write cert")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	check(err, "key pair")
	return pair
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	user := flag.String("user", "admin", "user name")
	pass := flag.String("pass", "secret", "password")
	nvms := flag.Int("vms", 300, "number of VMs (templates included)")
	certOut := flag.String("cert-out", "", "write the server's self-signed certificate (PEM) here")
	truthOut := flag.String("truth", "", "write what was created (JSON) here")
	workers := flag.Int("workers", 8, "parallel API clients used to build the estate")
	vapi := flag.Bool("vapi", true, "serve the vSphere Automation REST endpoints (tags); false: 404 as on ESXi")
	methodDelay := flag.String("method-delay", "", "METHOD=MS[,METHOD=MS]: once the estate is built, each call of METHOD takes MS more (a slow vCenter)")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = 2
	model.Cluster = 2
	model.ClusterHost = 3
	model.Host = 1
	model.Datastore = 0
	model.Machine = 0
	model.Portgroup = 0
	model.Autostart = false
	check(model.Create(), "model")
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(*certOut)}}
	model.Service.RegisterEndpoints = *vapi
	server := model.Service.NewServer()
	defer server.Close()
	if *vapi {
		installVAPIFaults(model.Service.ServeMux)
	}

	ctx := context.Background()
	u := *server.URL
	u.User = url.UserPassword(*user, *pass)
	c, err := govmomi.NewClient(ctx, &u, true)
	check(err, "client")

	t := build(ctx, c, &u, *nvms, *workers, *vapi)
	public := *server.URL
	public.User = nil
	t.URL = public.String()
	if *truthOut != "" {
		data, err := json.MarshalIndent(t, "", " ")
		check(err, "json")
		tmp := *truthOut + ".tmp"
		check(ioutil.WriteFile(tmp, data, 0o644), "write truth")
		check(os.Rename(tmp, *truthOut), "rename truth")
	}
	if *methodDelay != "" {
		// After the build, which calls the same methods. The service holds a pointer to
		// model.DelayConfig (set by Create), so this takes effect from the next call on.
		delays := map[string]int{}
		for _, item := range strings.Split(*methodDelay, ",") {
			parts := strings.SplitN(item, "=", 2)
			if len(parts) != 2 {
				fmt.Fprintf(os.Stderr, "bad -method-delay item %q\n", item)
				os.Exit(2)
			}
			ms, err := strconv.Atoi(parts[1])
			check(err, "method delay")
			delays[parts[0]] = ms
		}
		model.DelayConfig.MethodDelay = delays
	}
	fmt.Printf("READY %s\n", public.String())
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func build(ctx context.Context, c *govmomi.Client, u *url.URL, nvms, workers int, vapi bool) *truth {
	t := &truth{VAPI: vapi}
	finder := view.NewManager(c.Client)

	// Datacenters, their hosts (with cluster and resource pool).
	var dcs []*dcInfo
	dcList, err := finder.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"Datacenter"}, true)
	check(err, "view")
	var dcMos []mo.Datacenter
	check(dcList.Retrieve(ctx, []string{"Datacenter"}, []string{"name"}, &dcMos), "dcs")
	sort.Slice(dcMos, func(i, j int) bool { return dcMos[i].Name < dcMos[j].Name })
	for _, d := range dcMos {
		dc := object.NewDatacenter(c.Client, d.Self)
		folders, err := dc.Folders(ctx)
		check(err, "folders")
		info := &dcInfo{obj: dc, name: d.Name, folders: folders, sub: map[string]*object.Folder{}}
		for _, name := range []string{"prod", "test"} {
			f, err := folders.VmFolder.CreateFolder(ctx, name)
			check(err, "create folder")
			info.sub[name] = f
		}
		hv, err := finder.CreateContainerView(ctx, d.Self, []string{"HostSystem"}, true)
		check(err, "host view")
		var hosts []mo.HostSystem
		check(hv.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "parent"}, &hosts), "hosts")
		sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
		for _, h := range hosts {
			var cr mo.ComputeResource
			check(property.DefaultCollector(c.Client).RetrieveOne(ctx, *h.Parent, []string{"name", "resourcePool"}, &cr), "compute resource")
			cluster := ""
			if h.Parent.Type == "ClusterComputeResource" {
				cluster = cr.Name
			}
			info.hosts = append(info.hosts, hostInfo{
				obj:     object.NewHostSystem(c.Client, h.Self),
				name:    h.Name,
				cluster: cluster,
				pool:    object.NewResourcePool(c.Client, *cr.ResourcePool),
			})
			t.Hosts = append(t.Hosts, truthHost{Name: h.Name, Cluster: cluster, Datacenter: d.Name})
		}
		dcs = append(dcs, info)
	}

	// VMFS datastores shared by all hosts of a datacenter, each on one or two naa LUNs.
	for di, dc := range dcs {
		for k := 1; k <= 6; k++ {
			name := fmt.Sprintf("%s-VMFS-%02d", dc.name, k)
			dir, err := ioutil.TempDir("", "stagger-vcsim-ds-")
			check(err, "tempdir")
			var ref types.ManagedObjectReference
			for _, h := range dc.hosts {
				dss, err := h.obj.ConfigManager().DatastoreSystem(ctx)
				check(err, "datastore system")
				ds, err := dss.CreateLocalDatastore(ctx, name, dir)
				check(err, "create datastore "+name)
				ref = ds.Reference()
			}
			extents := []string{fmt.Sprintf("naa.600a0b80005ad1%02d%016x", di, 0x1000+k)}
			if k == 6 {
				extents = append(extents, fmt.Sprintf("naa.600a0b80005ad1%02d%016x", di, 0x2000+k))
			}
			capacity := int64(2+k) * 1024 * gib
			obj := simulator.Map.Get(ref).(*simulator.Datastore)
			simulator.Map.WithLock(obj, func() {
				base := *obj.Info.GetDatastoreInfo()
				var parts []types.HostScsiDiskPartition
				for _, e := range extents {
					parts = append(parts, types.HostScsiDiskPartition{DiskName: e, Partition: 1})
				}
				obj.Info = &types.VmfsDatastoreInfo{
					DatastoreInfo:          base,
					MaxPhysicalRDMFileSize: 62 * 1024 * gib,
					MaxVirtualRDMFileSize:  62 * 1024 * gib,
					Vmfs: &types.HostVmfsVolume{
						HostFileSystemVolume: types.HostFileSystemVolume{Type: "VMFS", Name: name, Capacity: capacity},
						BlockSizeMb:          1,
						MajorVersion:         6,
						Version:              "6.82",
						Uuid:                 fmt.Sprintf("5f1e%04x-stagger-%02d", k, di),
						Extent:               parts,
					},
				}
				obj.Summary.Type = "VMFS"
				obj.Summary.Capacity = capacity
				obj.Summary.FreeSpace = capacity / 2
			})
			dc.ds = append(dc.ds, name)
			dc.dsRefs = append(dc.dsRefs, ref)
			t.Datastores = append(t.Datastores, truthDatastore{Name: name, Datacenter: dc.name, CapacityBytes: capacity, Extents: extents})
		}
	}

	// Custom attributes used as tags.
	cfm, err := object.GetCustomFieldsManager(c.Client)
	check(err, "custom fields manager")
	appDef, err := cfm.Add(ctx, "Application", "VirtualMachine", nil, nil)
	check(err, "add field")
	tierDef, err := cfm.Add(ctx, "BackupTier", "VirtualMachine", nil, nil)
	check(err, "add field")

	// VM plans (deterministic from the index).
	plans := make([]*truthVM, nvms)
	sizes := []int64{16, 40, 60, 100, 250, 500}
	for i := 0; i < nvms; i++ {
		dc := dcs[i%len(dcs)]
		h := dc.hosts[(i/len(dcs))%len(dc.hosts)]
		folder := "prod"
		if i%4 == 3 {
			folder = "test"
		}
		name := fmt.Sprintf("vm-%04d", i)
		switch {
		case nvms >= 4 && i == nvms-1: // same name as vm 0, other datacenter
			name = "vm-0000"
			dc = dcs[1%len(dcs)]
			h = dc.hosts[0]
			folder = "prod"
		case nvms >= 4 && i == nvms-2: // same name as vm 2 (datacenter 0, folder prod), folder test
			name = "vm-0002"
			dc = dcs[0]
			h = dc.hosts[1%len(dc.hosts)]
			folder = "test"
		}
		v := &truthVM{Name: name, Datacenter: dc.name, Folder: folder, Host: h.name, Cluster: h.cluster,
			Attributes: map[string]string{}}
		primary := dc.ds[i%len(dc.ds)]
		ndisks := 1 + i%3
		for k := 0; k < ndisks; k++ {
			ds := primary
			if k > 0 && (i+k)%3 == 0 {
				ds = dc.ds[(i+k)%len(dc.ds)]
			}
			size := sizes[(i+k)%len(sizes)] * gib
			v.Disks = append(v.Disks, truthDisk{Datastore: ds, SizeBytes: size, KBOnly: i%2 == 1})
		}
		v.Template = i%97 == 50
		v.PowerState = "poweredOn"
		if i%10 == 9 || v.Template {
			v.PowerState = "poweredOff"
		}
		v.ToolsVersion = []string{"guestToolsCurrent", "guestToolsCurrent", "guestToolsNeedUpgrade", "guestToolsNotInstalled", "guestToolsUnmanaged", "guestToolsCurrent", "guestToolsCurrent"}[i%7]
		v.ToolsRunning = "guestToolsRunning"
		if v.PowerState != "poweredOn" || v.ToolsVersion == "guestToolsNotInstalled" || i%11 == 5 {
			v.ToolsRunning = "guestToolsNotRunning"
		}
		v.ConsolidationNeeded = i%23 == 7
		if i%5 == 0 {
			v.Attributes["Application"] = []string{"erp", "web", "sql"}[i%3]
		}
		if i%6 == 1 {
			v.Attributes["BackupTier"] = "gold"
		}
		if vapi {
			v.Tags = tagsFor(i)
		}
		plans[i] = v
	}
	dirs := map[string]int{}
	vmDirs := make([]string, nvms)
	for i, v := range plans {
		key := v.Datacenter + "/" + v.Name
		if n := dirs[key]; n > 0 {
			vmDirs[i] = fmt.Sprintf("%s_%d", v.Name, n)
		} else {
			vmDirs[i] = v.Name
		}
		dirs[key]++
	}

	// Create the VMs through the API, in parallel.
	var wg sync.WaitGroup
	jobs := make(chan int)
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc, err := govmomi.NewClient(ctx, u, true)
			check(err, "worker client")
			for i := range jobs {
				createVM(ctx, wc, dcs, plans[i], vmDirs[i], appDef.Key, tierDef.Key, i)
			}
			_ = wc.Logout(ctx)
		}()
	}
	for i := range plans {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if vapi {
		createTags(ctx, c, u, plans, []types.ManagedObjectReference{
			dcs[0].hosts[0].obj.Reference(), dcs[0].dsRefs[0]})
	}
	mu.Lock()
	for _, v := range plans {
		t.VMs = append(t.VMs, *v)
	}
	mu.Unlock()
	return t
}

func createVM(ctx context.Context, c *govmomi.Client, dcs []*dcInfo, v *truthVM, dir string, appKey, tierKey int32, i int) {
	var dc *dcInfo
	for _, d := range dcs {
		if d.name == v.Datacenter {
			dc = d
		}
	}
	var h hostInfo
	for _, hh := range dc.hosts {
		if hh.name == v.Host {
			h = hh
		}
	}
	fm := object.NewFileManager(c.Client)
	devices := object.VirtualDeviceList{}
	scsi, err := devices.CreateSCSIController("pvscsi")
	check(err, "scsi")
	scsi.(types.BaseVirtualController).GetVirtualController().Key = 1000
	changes := []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: scsi}}
	made := map[string]bool{v.Disks[0].Datastore: true}
	for k := range v.Disks {
		d := &v.Disks[k]
		if !made[d.Datastore] {
			check(fm.MakeDirectory(ctx, fmt.Sprintf("[%s] %s", d.Datastore, dir), dc.obj, true), "mkdir")
			made[d.Datastore] = true
		}
		suffix := ""
		if k > 0 {
			suffix = fmt.Sprintf("_%d", k)
		}
		d.File = fmt.Sprintf("[%s] %s/%s%s.vmdk", d.Datastore, dir, v.Name, suffix)
		unit := int32(k)
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key:           int32(2000 + k),
				ControllerKey: 1000,
				UnitNumber:    &unit,
				DeviceInfo:    &types.Description{Label: fmt.Sprintf("Hard disk %d", k+1), Summary: "disk"},
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.File},
					DiskMode:                     string(types.VirtualDiskModePersistent),
					ThinProvisioned:              types.NewBool(true),
				},
			},
			CapacityInKB: d.SizeBytes / 1024,
		}
		if !d.KBOnly {
			disk.CapacityInBytes = d.SizeBytes
		}
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
			Device:        disk,
		})
	}
	spec := types.VirtualMachineConfigSpec{
		Name:         v.Name,
		GuestId:      "otherGuest64",
		NumCPUs:      2,
		MemoryMB:     4096,
		Files:        &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s", v.Disks[0].Datastore, dir)},
		DeviceChange: changes,
	}
	task, err := dc.sub[v.Folder].CreateVM(ctx, spec, h.pool, h.obj)
	check(err, "create vm")
	res, err := task.WaitForResult(ctx, nil)
	check(err, "create vm "+v.Name)
	ref := res.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c.Client, ref)
	v.Moref = ref.Value

	if v.PowerState == "poweredOn" {
		task, err := vm.PowerOn(ctx)
		check(err, "power on")
		check(task.Wait(ctx), "power on")
	}
	cfm, err := object.GetCustomFieldsManager(c.Client)
	check(err, "cfm")
	if val, ok := v.Attributes["Application"]; ok {
		check(cfm.Set(ctx, ref, appKey, val), "set field")
	}
	if val, ok := v.Attributes["BackupTier"]; ok {
		check(cfm.Set(ctx, ref, tierKey, val), "set field")
	}
	// Snapshots through the API: every 7th VM one, every 14th a second (child) one.
	nsnap := 0
	if i%7 == 0 && !v.Template {
		nsnap = 1 + (i/7)%2
	}
	for s := 0; s < nsnap; s++ {
		task, err := vm.CreateSnapshot(ctx, fmt.Sprintf("backup-%d", s+1), "left behind", false, false)
		check(err, "snapshot")
		check(task.Wait(ctx), "snapshot")
	}
	if v.Template {
		check(vm.MarkAsTemplate(ctx), "template")
	}

	// Facts the simulator does not model: set them on the simulator's object.
	obj := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	simulator.Map.WithLock(obj, func() {
		v.InstanceUUID = obj.Config.InstanceUuid
		if obj.Guest == nil {
			obj.Guest = &types.GuestInfo{}
		}
		obj.Guest.ToolsRunningStatus = v.ToolsRunning
		obj.Guest.ToolsVersionStatus2 = v.ToolsVersion
		obj.Guest.ToolsVersionStatus = v.ToolsVersion
		if v.ToolsVersion == "guestToolsNotInstalled" {
			obj.Guest.ToolsStatus = types.VirtualMachineToolsStatusToolsNotInstalled
		}
		obj.Runtime.ConsolidationNeeded = types.NewBool(v.ConsolidationNeeded)
		var total int64
		for _, d := range v.Disks {
			total += d.SizeBytes
		}
		v.CommittedBytes = total / 3
		if obj.Summary.Storage == nil {
			obj.Summary.Storage = &types.VirtualMachineStorageSummary{}
		}
		obj.Summary.Storage.Committed = v.CommittedBytes
		// Age the snapshots and give their data files a size.
		if obj.Snapshot != nil {
			node := obj.Snapshot.RootSnapshotList
			age := 40*24*time.Hour + time.Duration(i)*time.Hour
			sizes := map[int32]int64{}
			for len(node) > 0 {
				created := time.Now().Add(-age).UTC().Truncate(time.Second)
				node[0].CreateTime = created
				var size int64
				for _, l := range obj.LayoutEx.Snapshot {
					if l.Key == node[0].Snapshot {
						size = int64(1+i%4) * gib * int64(1+len(v.Snapshots))
						sizes[l.DataKey] = size
					}
				}
				v.Snapshots = append(v.Snapshots, truthSnapshot{Name: node[0].Name, Created: created, SizeBytes: size})
				age -= 35 * 24 * time.Hour
				if age < time.Hour {
					age = time.Hour
				}
				node = node[0].ChildSnapshotList
			}
			for k := range obj.LayoutEx.File {
				if s, ok := sizes[obj.LayoutEx.File[k].Key]; ok {
					obj.LayoutEx.File[k].Size = s
				}
			}
		}
	})
}
