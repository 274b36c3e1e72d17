package portal

import "net/http"

func (h *Handler) policyRoutes(mux *http.ServeMux) {}
