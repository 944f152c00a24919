// The built-in image analyser: what the scan service (src/scan/*) calls. Streams in, facts out:
// analyzeImage reads layers into packages, loadOsv builds the advisory database that matches them,
// cycloneDx writes the SBOM.
export { cycloneDx, CYCLONEDX_MEDIA_TYPE } from './cyclonedx.js';
export { analyzeImage } from './image.js';
export { LayerFormatError } from './layers.js';
export { loadOsv, OsvLoadError } from './osv.js';
export type { AdvisoryDb, AnalyzeOptions, AnalyzeResult, Finding, LayerSource, Package, Severity } from './types.js';
