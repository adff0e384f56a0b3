package dashboard

// adminRoutes are the Leads, Settings and Operations pages (owners and
// admins). They are built in their own files; this list is where they are
// registered.
func (d *Dashboard) adminRoutes() []route {
	return nil
}
