// Top-level scenes ranked by how many sub-scenes they hold and how deep they go.
MATCH (root:Scene)-[:CONTAINS*1..10]->(part:Scene)
WHERE root.depth = 0
RETURN root.id AS root, count(part) AS parts, max(part.depth) AS deepest
ORDER BY parts DESC, root;
