// Three-scene passages along LEADS_TO.
MATCH (a:Scene)-[:LEADS_TO]->(b:Scene)-[:LEADS_TO]->(c:Scene)
RETURN a.id AS first, b.id AS middle, c.id AS last
ORDER BY first, middle, last;
