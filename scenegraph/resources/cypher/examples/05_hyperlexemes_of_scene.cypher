// Every hyperlexeme that names a scene: fused words and ids.
MATCH (h:Hyperlexeme)-[:NAMES]->(s:Scene {id: 'Δ42'})
RETURN h.form AS hyperlexeme, h.kind AS kind
ORDER BY hyperlexeme;
