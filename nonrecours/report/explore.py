"""The report's embedded script and styles: searchable, sortable tables and the territory finder.

Everything is inline (no external resource, no request): :data:`CSS` adds the
styles of the finder and the cards and a print stylesheet; :data:`SCRIPT` is
a small vanilla-JavaScript program that

* makes every table of the page sortable by a click (or Enter) on a header
  button, keeping ``aria-sort`` up to date; numbers sort by their
  ``data-v`` value when a cell has one;
* puts a search box (a labelled ``<input type="search">``) before every table
  with more than ``MIN_ROWS`` rows, filtering rows on their text, with the
  count of rows shown in a polite live region;
* runs the "find my territory" box: typing a code or a name filters the
  territory table and shows the territory's card, built from the JSON data
  embedded by :mod:`nonrecours.report.section_territories`.

The script degrades gracefully: without JavaScript every table is still
there, complete, and prints.
"""

from __future__ import annotations

__all__ = ["CSS", "SCRIPT", "MIN_ROWS"]

#: Tables with more rows than this get a search box.
MIN_ROWS = 8

CSS = """
.nr-search{margin:.6em 0 .2em;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
.nr-search input{font-size:1em;padding:.3em .5em;min-width:16em;border:1px solid #777;border-radius:3px}
.nr-count{font-size:.85em;color:#444}
th button.nr-sort{all:unset;cursor:pointer;font-weight:bold}
th button.nr-sort:focus-visible,input:focus-visible{outline:3px solid #1d4f73;outline-offset:2px}
th[aria-sort=ascending] button.nr-sort::after{content:" \\25B2"}
th[aria-sort=descending] button.nr-sort::after{content:" \\25BC"}
.nr-scroll{max-height:32em;overflow:auto;border:1px solid #e3e3e3}
.nr-scroll thead th{position:sticky;top:0}
.nr-wide{overflow-x:auto;max-width:100%}
table.wide{font-size:.72em}
table.wide td,table.wide th{padding:.2em .3em}
table.wide th{white-space:normal;vertical-align:bottom;max-width:9em;hyphens:auto;overflow-wrap:break-word}
.nr-card{border:2px solid #1d4f73;border-radius:4px;padding:.6em 1em;margin:.8em 0;background:#f8fbfd}
.nr-card h3{margin:.2em 0 .4em}
.nr-finder label{font-weight:bold}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
figure{margin:1em 0}figcaption{font-size:.85em;color:#444}
@media print{
 nav,.nr-search,.nr-finder,th button.nr-sort::after{display:none!important}
 body{max-width:none;margin:0;font-size:10pt;color:#000}
 .nr-scroll{max-height:none;overflow:visible;border:0}
 .nr-wide{overflow:visible}
 tr[hidden]{display:table-row!important}
 table,figure,img,.nr-card{page-break-inside:avoid;break-inside:avoid}
 thead{display:table-header-group}
 h2{page-break-after:avoid;break-after:avoid}
 a{color:#000;text-decoration:none}
 section{page-break-before:auto}
}
"""

SCRIPT = r"""
(function(){
"use strict";
var MIN_ROWS=%(min_rows)d, T=%(text)s;
function val(td){var v=td.getAttribute("data-v");if(v!==null&&v!==""){return parseFloat(v);}
 var t=td.textContent.trim();var n=parseFloat(t.replace(/\u202f|\u00a0|\s/g,"").replace(",","."));
 return (/^[-+]?[\d\s\u202f\u00a0]*[.,]?\d+/.test(t)&&!isNaN(n))?n:t.toLowerCase();}
function sortBy(table,col,th){
 var body=table.tBodies[0];if(!body){return;}
 var asc=th.getAttribute("aria-sort")!=="ascending";
 Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute("aria-sort");});
 th.setAttribute("aria-sort",asc?"ascending":"descending");
 var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=val(a.cells[col]||a),y=val(b.cells[col]||b);
  if(typeof x!==typeof y){return (typeof x==="number"?-1:1)*(asc?1:-1);}
  return (x<y?-1:x>y?1:0)*(asc?1:-1);});
 rows.forEach(function(r){body.appendChild(r);});}
function count(table,out){var n=0,t=0;
 Array.prototype.forEach.call(table.tBodies[0].rows,function(r){t++;if(!r.hidden){n++;}});
 out.textContent=T.shown.replace("{n}",n).replace("{t}",t);}
function filter(table,q,out){q=q.trim().toLowerCase();
 Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
  var key=(r.getAttribute("data-search")||r.textContent).toLowerCase();r.hidden=q!==""&&key.indexOf(q)<0;});
 count(table,out);}
var k=0;
Array.prototype.forEach.call(document.querySelectorAll("table"),function(table){
 k++;var head=table.tHead;if(!head||!table.tBodies[0]){return;}
 Array.prototype.forEach.call(head.rows[head.rows.length-1].cells,function(th,i){
  var b=document.createElement("button");b.type="button";b.className="nr-sort";
  while(th.firstChild){b.appendChild(th.firstChild);}th.appendChild(b);
  b.setAttribute("title",T.sort);b.addEventListener("click",function(){sortBy(table,i,th);});});
 if(table.tBodies[0].rows.length<=MIN_ROWS&&!table.hasAttribute("data-explore")){return;}
 if(!table.id){table.id="nr-table-"+k;}
 var box=document.createElement("div");box.className="nr-search";
 var lab=document.createElement("label");lab.setAttribute("for",table.id+"-q");lab.textContent=T.search;
 var inp=document.createElement("input");inp.type="search";inp.id=table.id+"-q";inp.setAttribute("autocomplete","off");
 inp.setAttribute("aria-controls",table.id);
 var out=document.createElement("span");out.className="nr-count";out.setAttribute("aria-live","polite");
 out.id=table.id+"-count";
 box.appendChild(lab);box.appendChild(inp);box.appendChild(out);
 var wrap=table.parentNode.classList;
 var anchor=wrap.contains("nr-scroll")||wrap.contains("nr-wide")?table.parentNode:table;
 anchor.parentNode.insertBefore(box,anchor);
 inp.addEventListener("input",function(){filter(table,inp.value,out);});count(table,out);});
var data=document.getElementById("nr-territory-data");
var finder=document.getElementById("nr-find");
if(data&&finder){
 var D=JSON.parse(data.textContent),card=document.getElementById("nr-card");
 var tbl=document.getElementById("nr-territories");
 function show(q){q=q.trim().toLowerCase();var hit=null;
  if(q!==""){for(var i=0;i<D.territories.length;i++){var t=D.territories[i];
   if(t.code.toLowerCase()===q||(t.name&&t.name.toLowerCase()===q)){hit=t;break;}}}
  if(tbl){var inp=document.getElementById(tbl.id+"-q");if(inp){inp.value=q;}
   filter(tbl,q,document.getElementById(tbl.id+"-count"));}
  card.innerHTML="";card.hidden=!hit;if(!hit){return;}
  var h=document.createElement("h3");h.textContent=(hit.name?hit.name+" ("+hit.code+")":hit.code);card.appendChild(h);
  var p=document.createElement("p");p.textContent=hit.where;card.appendChild(p);
  var tb=document.createElement("table");var cap=document.createElement("caption");
  cap.textContent=D.caption;tb.appendChild(cap);
  var th=tb.createTHead().insertRow();
  D.header.forEach(function(x){var c=document.createElement("th");c.scope="col";c.textContent=x;th.appendChild(c);});
  var b=tb.createTBody();hit.rows.forEach(function(r){var tr=b.insertRow();r.forEach(function(x,j){
   var c=j===0?document.createElement("th"):document.createElement("td");if(j===0){c.scope="row";}
   c.textContent=x;tr.appendChild(c);});});
  card.appendChild(tb);}
 finder.addEventListener("input",function(){show(finder.value);});
 finder.addEventListener("change",function(){show(finder.value);});}
})();
"""
