/** The local web viewer over a network folder (`protolens view`). */
export { startViewer, uploadName, DEFAULT_VIEWER_HOST, DEFAULT_VIEWER_PORT, DEFAULT_MAX_UPLOAD_BYTES, type ViewerOptions, type Viewer, type ClassJson, type ExplainResponse } from './server.ts';
export { renderViewerPage, viewerGallery, classDiagnosticsLine, type ViewerPageData } from './page.ts';
export { resolveInside, contentType, CONTENT_TYPES } from './static-files.ts';
