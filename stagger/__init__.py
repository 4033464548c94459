"""stagger: plan VMware backup windows so shared hosts, datastores and RAID groups never
overload."""

__version__ = "0.1.0"
