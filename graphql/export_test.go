package graphql

// SetLimits lowers h's per-request limits for tests.
func SetLimits(h *Handler, resolutions, resources int) {
	h.maxResolutions, h.maxResources = resolutions, resources
}
