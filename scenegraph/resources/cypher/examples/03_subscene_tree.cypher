// The fractal below one scene: every sub-scene with its depth.
MATCH (root:Scene {id: 'Δ31'})-[:CONTAINS*1..10]->(part:Scene)
RETURN part.id AS scene, part.depth AS depth
ORDER BY depth, scene;
